"""The command line: ``main()``, LightningCLI's hooks, what fit prints at the end, how a failure is reported."""
