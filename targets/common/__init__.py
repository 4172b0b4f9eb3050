"""Code shared by the accelerator targets: the host/accelerator partition (offload) and per-call figures (metrics)."""
