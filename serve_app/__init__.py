"""Novel Engine on Ray Serve: the HTTP API, the WebSocket stream, auth, and the operations routes."""
