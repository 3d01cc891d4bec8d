"""Bridges to other tools. :mod:`mlsteer.integrations.lm_eval` (needs ``pip install
'mlsteer[harness]'``) is imported only when used, so ``import mlsteer`` never loads the harness."""
