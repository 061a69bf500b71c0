"""fizzlightning: the PyTorch tutorial's two-layer regressor and FizzBuzz classifier as a Lightning application.

Nothing is imported here, so ``fizzlightning.nets`` and ``fizzlightning.fizzbuzz`` load with torch alone.
"""
