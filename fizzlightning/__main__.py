from fizzlightning.cli import main

main()
