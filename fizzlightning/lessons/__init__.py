"""The lessons' maths: the FizzBuzz game, the networks, the artist, the pictures (torch and numpy, no Lightning)."""
