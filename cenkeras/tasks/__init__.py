"""Trainers (keras.Model subclasses with their own train_step) and the jobs that run them."""
