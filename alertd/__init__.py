"""alertd: one alert for every failed or warning Veeam backup task session."""

__version__ = "0.1.0"
