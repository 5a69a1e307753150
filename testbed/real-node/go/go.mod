module kir.invalid/testbed/realnode

go 1.26.0
