module imbench/receiver

go 1.26.0

require (
	golang.org/x/net v0.58.0
	google.golang.org/protobuf v1.36.12
)

require golang.org/x/text v0.41.0 // indirect
