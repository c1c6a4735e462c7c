from opsconsole.cli.main import main

raise SystemExit(main())
