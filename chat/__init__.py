"""The chat service: the seed's Socket.IO chat, one worker = one ECS task = one `python -m chat`."""
