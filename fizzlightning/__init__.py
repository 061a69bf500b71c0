"""fizzlightning: the PyTorch lessons' three networks (a two-layer regressor, a FizzBuzz classifier, a small GAN)
as a Lightning application.

Nothing is imported here, so ``fizzlightning.nets`` and ``fizzlightning.fizzbuzz`` load with torch alone, and
``fizzlightning --version`` answers without torch at all.
"""
