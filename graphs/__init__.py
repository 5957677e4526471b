"""The agent: state machine, prompts, chat-model and checkpointer factories."""
