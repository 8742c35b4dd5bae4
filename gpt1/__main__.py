from gpt1.cli import main

main()
