-- 广州市市场监督管理局: market entity register (E01, E03) and business licences (E02).
CREATE TABLE market_entity (
    uscc                          text PRIMARY KEY,
    name                          text NOT NULL,
    entity_type                   text NOT NULL,
    status                        text NOT NULL CHECK (status IN ('active', 'revoked', 'cancelled')),
    registered_capital            numeric(18, 2) NOT NULL,
    established_on                date NOT NULL,
    address                       text NOT NULL,
    legal_representative_name     text NOT NULL,
    legal_representative_id       text NOT NULL,
    updated_at                    timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE business_license (
    uscc            text PRIMARY KEY REFERENCES market_entity (uscc),
    license_number  text NOT NULL,
    issued_on       date NOT NULL,
    valid_until     date,
    business_scope  text NOT NULL,
    updated_at      timestamptz NOT NULL DEFAULT now()
);

INSERT INTO market_entity VALUES
    ('91440106MA59C8K17D', '广州天河云图科技有限公司', '有限责任公司', 'active', 5000000.00, '2016-08-18',
     '广州市天河区天河路100号', '张伟', '440106199001011235', now()),
    ('91440103MA5D3N7W37', '广州市荔湾珠江餐饮管理有限公司', '有限责任公司', 'active', 1000000.00, '2019-05-20',
     '广州市荔湾区多宝路8号', '王芳', '44010319781120046X', now()),
    ('91440111MA9UTQ4R6C', '广州白云速达物流有限公司', '有限责任公司', 'revoked', 2000000.00, '2021-03-03',
     '广州市白云区机场路55号', '刘洋', '440111199207085636', now());

INSERT INTO business_license (uscc, license_number, issued_on, valid_until, business_scope) VALUES
    ('91440106MA59C8K17D', '91440106MA59C8K17D', '2016-08-18', NULL, '软件开发；信息技术咨询服务'),
    ('91440103MA5D3N7W37', '91440103MA5D3N7W37', '2019-05-20', NULL, '餐饮管理；餐饮服务'),
    ('91440111MA9UTQ4R6C', '91440111MA9UTQ4R6C', '2021-03-03', '2041-03-02', '道路货物运输；仓储服务');
