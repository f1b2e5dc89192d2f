// Top-level code is main-actor isolated; everything that runs on loops lives in non-isolated types.
AuthgateCLI.main()
