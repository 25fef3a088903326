"""An S3 client for the audit stream tests (boto3, which moto[server] brings):

  s3_bucket.py create ENDPOINT BUCKET
      creates the bucket; prints {"created": BUCKET}
  s3_bucket.py read ENDPOINT BUCKET
      prints {"objects": [{"key", "ids": [event ids], "seqs": [...], "checkpoints": n}]},
      each object un-gzipped and read as JSON Lines

Errors are printed as {"error": "..."} with exit status 1.
"""

import gzip
import json
import sys

import boto3


def client(endpoint):
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="test-key",
        aws_secret_access_key="test-secret",
    )


def main(command, endpoint, bucket):
    s3 = client(endpoint)
    if command == "create":
        s3.create_bucket(Bucket=bucket)
        print(json.dumps({"created": bucket}))
        return
    objects = []
    for item in s3.list_objects_v2(Bucket=bucket).get("Contents", []):
        body = s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read()
        lines = [json.loads(line) for line in gzip.decompress(body).splitlines() if line.strip()]
        events = [line for line in lines if "id" in line]
        objects.append({
            "key": item["Key"],
            "ids": [e["id"] for e in events],
            "seqs": [e["seq"] for e in events],
            "checkpoints": len([line for line in lines if "checkpoint" in line]),
        })
    print(json.dumps({"objects": objects}))


if __name__ == "__main__":
    try:
        main(*sys.argv[1:4])
    except Exception as e:  # noqa: BLE001 - the test reads the message
        print(json.dumps({"error": f"{type(e).__name__}: {e}"}))
        sys.exit(1)
