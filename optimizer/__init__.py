"""Recipe space, objectives, acquisition, proposals and the Optuna study: the loop that proposes recipes."""
