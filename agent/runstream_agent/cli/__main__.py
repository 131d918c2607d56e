from runstream_agent.cli import main

main()
