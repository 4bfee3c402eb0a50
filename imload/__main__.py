from imload.cli import main

raise SystemExit(main())
