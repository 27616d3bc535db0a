"""Fixtures for the hardware adapter tests: virtual ALSA devices (see alsa_fixtures)."""

from tests.hardware.alsa_fixtures import alsa, vpcm_plugin

__all__ = ["alsa", "vpcm_plugin"]
