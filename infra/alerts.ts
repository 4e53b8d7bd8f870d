import { Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as sns from 'aws-cdk-lib/aws-sns';
import { Construct } from 'constructs';

// The SNS alert topic: failed, partial and missed backup windows, give-up alerts of the purge,
// recall notifications. KMS-encrypted with its own key (the AWS-managed SNS key cannot be used
// by EventBridge or CloudWatch alarms), TLS-only publishing. The workflows publish to it; the
// operators subscribe (e-mail, chat, pager) outside this stack.

export class AlertTopic extends Construct {
  readonly topic: sns.Topic;
  readonly key: kms.Key;

  constructor(scope: Construct, id: string) {
    super(scope, id);
    this.key = new kms.Key(this, 'Key', {
      description: 'Ferry: alert topic',
      enableKeyRotation: true,
      // Messages are not stored: a new stack can start with a new key.
      removalPolicy: RemovalPolicy.DESTROY,
      pendingWindow: Duration.days(7),
    });
    // Service publishers that may be pointed at the topic (EventBridge rules, CloudWatch alarms).
    this.key.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'ServicePublishers',
        principals: [new iam.ServicePrincipal('events.amazonaws.com'), new iam.ServicePrincipal('cloudwatch.amazonaws.com')],
        actions: ['kms:Decrypt', 'kms:GenerateDataKey'],
        resources: ['*'],
      }),
    );
    this.topic = new sns.Topic(this, 'Topic', {
      displayName: 'Ferry alerts',
      masterKey: this.key,
      enforceSSL: true,
    });
    // The topic's own policy replaces SNS's default one (which let the account publish): a
    // CloudWatch alarm or an EventBridge rule publishes as its service, which only a statement
    // here lets in (the key's statement above covers the encryption, not the publish). Without
    // it every alarm action fails, seen only in the alarm's history. Limited to this account's
    // alarms and rules (the confused-deputy conditions).
    this.topic.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'ServicePublishers',
        principals: [new iam.ServicePrincipal('cloudwatch.amazonaws.com'), new iam.ServicePrincipal('events.amazonaws.com')],
        actions: ['sns:Publish'],
        resources: [this.topic.topicArn],
        conditions: { StringEquals: { 'aws:SourceAccount': Stack.of(this).account } },
      }),
    );
  }

  /**
   * Lets a role (a state machine's, a Lambda's) publish: sns:Publish plus the key use that needs.
   * Written out instead of `topic.grantPublish`, whose `kms:GenerateDataKey*` is a wildcard
   * cdk-nag would make every caller acknowledge.
   */
  grantPublish(grantee: iam.IGrantable): void {
    grantee.grantPrincipal.addToPrincipalPolicy(new iam.PolicyStatement({ actions: ['sns:Publish'], resources: [this.topic.topicArn] }));
    grantee.grantPrincipal.addToPrincipalPolicy(new iam.PolicyStatement({ actions: ['kms:Decrypt', 'kms:GenerateDataKey'], resources: [this.key.keyArn] }));
  }
}
