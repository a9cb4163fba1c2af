from learnbench.cli import main

raise SystemExit(main())
