"""The installed console in a real terminal (tmux)."""
