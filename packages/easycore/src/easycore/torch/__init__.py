"""The torch part of easycore; ``easycore.torch.parallel`` needs easycore-torch and torch."""
