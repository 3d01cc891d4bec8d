from mlsteer.cli import main

main()
