"""Forecasts with calibrated uncertainty: Monte Carlo recurrent dropout, the noise term, split-conformal scaling,
and the scores that judge them (coverage, width, CRPS, pinball loss)."""

from jenacast.forecast.intervals import Calibration, calibrate, interval_scores
from jenacast.forecast.mc import mc_predict, stochastic_modules

__all__ = ["Calibration", "calibrate", "interval_scores", "mc_predict", "stochastic_modules"]
