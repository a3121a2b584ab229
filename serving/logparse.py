"""Extract per-model load failures from a Triton server log."""

from __future__ import annotations

import re

__all__ = ["parse_model_errors"]

# E1122 01:59:59.314 4810 model_lifecycle.cc:642] "failed to load 'boom' version 1: Internal: ..."
_LOAD_FAILED = re.compile(r"failed to load '(?P<model>[^']+)' version \d+: (?P<reason>.*?)\"?$")
# E1122 01:59:48.759973 4670 model_repository_manager.cc:1460] "Poll failed for model directory
# 'bad': dynamic batching preferred size must be <= max batch size for bad"
_POLL_FAILED = re.compile(
    r"Poll failed for model directory '(?P<model>[^']+)': (?P<reason>.*?)\"?$"
)
# E1122 02:09:18.671 24053 model_repository_manager.cc:703] "Invalid argument: ensemble ens
# contains models that are not available or ambiguous: x" (also "... in ensemble ens, ...")
_ENSEMBLE_FAILED = re.compile(
    r'model_repository_manager\.cc:\d+\] "(?P<reason>[A-Za-z ]+: (?:in )?ensemble '
    r"'?(?P<model>[^\s,:']+)'?[\s,:].*?)\"?$"
)
# E1129 18:39:10.435 18685 model_repository_manager.cc:724] "failed to load model 'm': at least
# one version must be available under the version policy of model 'm'"
_MODEL_FAILED = re.compile(r"failed to load model '(?P<model>[^']+)': (?P<reason>.*?)\"?$")
_ESCAPES = {"\\n": "\n", "\\t": "\t", '\\"': '"', "\\\\": "\\"}


def _unescape(text: str) -> str:
    return re.sub(r"\\[nt\"\\]", lambda m: _ESCAPES[m.group(0)], text)


def _first_paragraph(reason: str) -> str:
    # Python tracebacks follow the message after a blank line ("\n\nAt:\n  ...").
    return _unescape(reason).split("\n\n", 1)[0].strip()


def parse_model_errors(log_text: str) -> dict[str, str]:
    """Map each model that failed to load to Triton's own reason.

    Args:
        log_text: The server's combined stdout/stderr log.

    Returns:
        Model name -> reason, in the order the failures appear in the log; the first
        reason logged for a model wins.
    """
    errors: dict[str, str] = {}
    for line in log_text.splitlines():
        for pattern in (_LOAD_FAILED, _POLL_FAILED, _ENSEMBLE_FAILED, _MODEL_FAILED):
            match = pattern.search(line.rstrip())
            if match and match.group("model") not in errors:
                errors[match.group("model")] = _first_paragraph(match.group("reason"))
    return errors
