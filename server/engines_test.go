package server_test

// extraEngines lists the engines beyond SQLite; the MongoDB engine adds
// itself in engines_mongo_test.go.
func extraEngines() []engine { return mongoEngines() }
