"""What a model must remember: name/attribute pools, populations, tokenizer, information content.

Pure Python + numpy; never imports torch.
"""
