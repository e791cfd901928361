from hitwatch.cli import entry

entry()
