"""How many bits a trained model stores: the bit-complexity lower bound of SCIENCE.md §2."""
