"""Comparative human judgement of causal maps: data, Bradley-Terry and Elo scores, reliability, adaptive pairing."""
