"""Evidence as it travels: the signed manifest, Ed25519 keys and signatures, offline checks."""
