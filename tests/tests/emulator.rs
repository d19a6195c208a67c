//! The adapter contract suite against DynamoDB and SQS on the emulator (moto_server).

leadq_tests::contract_tests!(leadq_tests::emulator::Moto::shared());
