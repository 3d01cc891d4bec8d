"""The harness's own XCOPA prompt functions (``lm_eval.tasks.xcopa.utils``), for the local YAMLs."""

from lm_eval.tasks.xcopa.utils import *  # noqa: F403
