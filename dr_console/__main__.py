from dr_console.cli import main

raise SystemExit(main())
