from fizzlightning.app import main

main()
