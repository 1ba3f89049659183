"""Scenario configuration: schema with parameter metadata, YAML loading with `extends:`."""

from sim.config.loader import ConfigError, config_hash, load_config, validate_config
from sim.config.schema import NEED_TYPES, ScenarioConfig

__all__ = ["ConfigError", "NEED_TYPES", "ScenarioConfig", "config_hash", "load_config", "validate_config"]
