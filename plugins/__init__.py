"""Built-in reward plugins of gritkit."""
