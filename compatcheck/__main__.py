from compatcheck.cli import main

raise SystemExit(main())
