"""Step probe (and the retrained variants of compress): the model with LoRA, the training loop and its concurrent
driver, the run folder an adapter is written to and bound to its name, the probe's spectra, a user's adapter
imported in its place.
"""
