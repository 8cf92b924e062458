"""nameko services under test need eventlet's monkey-patching first."""
import eventlet

eventlet.monkey_patch()
