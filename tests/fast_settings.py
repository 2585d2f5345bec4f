"""Model settings small enough for unit tests."""

FAST = {
    "latent_dim": 3,
    "hidden_sizes": (16,),
    "discriminator_hidden_sizes": (16,),
    "epochs": 3,
    "batch_size": 50,
    "progress": False,
}
