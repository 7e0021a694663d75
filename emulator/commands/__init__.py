"""Sub-commands of `chat-emulator`; each module: NAME, HELP, add_arguments(parser), run(args) -> int."""
