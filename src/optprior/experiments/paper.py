"""Published numbers of Takahashi et al. (KDD 2022), as restated in the project's paper notes.

Strings, because several are only partly legible in the public transcript: those start
with "≈" and keep their unreadable digits as "x".
"""

from __future__ import annotations

#: Test log-likelihood on the target task (faces: all three tasks), nats.
LOG_LIKELIHOOD: dict[str, dict[str, str]] = {
    "usps-mnist": {"vae": "-163.25 ± 2.15", "cvae": "-152.32 ± 1.64", "optimal": "≈ -149.x ± x.x"},
    "mnist-usps": {
        "vae": "-235.23 ± 1.54",
        "cvae": "≈ -211.1 ± x.x",
        "optimal": "≈ -212.11 ± 1.48",
    },
    "synth-svhn": {
        "vae": "1146.04 ± 35.65",
        "cvae": "1397.36 ± 10.89",
        "optimal": "≈ 14xx ± 11.44",
    },
    "svhn-synth": {
        "vae": "760.66 ± 8.85",
        "cvae": "814.63 ± 10.09",
        "optimal": "≈ 8xx (> 814) ± 11.41",
    },
    "faces": {"vae": "895.41 ± 2.98", "cvae": "902.99 ± 3.69", "optimal": "≈ 91x ± x.x"},
}

#: Downstream classification accuracy on the target task.
ACCURACY: dict[str, dict[str, str]] = {
    "usps-mnist": {"vae": "0.52", "cvae": "0.53 ± 0.02", "optimal": "≈ 0.6x (best)"},
    "mnist-usps": {"vae": "0.64 ± 0.01", "cvae": "0.67 ± 0.01", "optimal": "≈ 0.7x (best)"},
    "synth-svhn": {"vae": "0.20 ± 0.00", "cvae": "≈ 0.2x (best)", "optimal": "0.19 ± 0.00"},
    "svhn-synth": {"vae": "0.25 ± 0.01", "cvae": "0.25 ± 0.00", "optimal": "≈ 0.2x (> 0.25)"},
}

PUBLISHED = {"test_log_likelihood": LOG_LIKELIHOOD, "accuracy_logistic": ACCURACY}
