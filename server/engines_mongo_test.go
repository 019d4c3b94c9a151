package server_test

func mongoEngines() []engine { return nil }
