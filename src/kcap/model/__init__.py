"""The lean transformer family, its exact parameter breakdown and FLOPs count."""
