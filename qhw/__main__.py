from qhw.cli import main

main()
