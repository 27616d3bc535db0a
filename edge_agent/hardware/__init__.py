"""Hardware adapters. Only this package imports alsaaudio, gpiozero and picamera2.

:func:`edge_agent.hardware.factory.open_hardware` picks the backend from settings:
``"pi"`` (pyalsaaudio + gpiozero's default pin factory) or ``"simulated"`` (WAV files
paced in real time + gpiozero's ``MockFactory``).
"""
