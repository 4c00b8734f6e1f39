from kcap.cli import main

main()
